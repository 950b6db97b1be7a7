"""Settings, the database engine and the event bus: what every other backend module uses."""
