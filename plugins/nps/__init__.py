"""NPS platform: extraction, surveys, collector, close-the-loop."""
