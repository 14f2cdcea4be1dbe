"""What is kept on disk: the chats database (SQLite, WAL), its migrations, the settings file."""
