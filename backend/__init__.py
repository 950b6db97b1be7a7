"""The runboard API (FastAPI, SQLModel). It never imports torch."""
