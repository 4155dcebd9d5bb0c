"""The hotline: contacts by phone, SMS and web chat, the queue, and the volunteers' work."""
