"""Live events: the event hub and the `/ws` WebSocket protocol."""
