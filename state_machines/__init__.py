"""State machines declared once: the crisis case workflow and volunteer presence."""
