"""The chat: conversations, the composer, messages as rendered data, the controller that drives an answer, export."""
