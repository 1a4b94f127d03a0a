"""Server-rendered UI views (templates under templates/, htmx for partial updates)."""
