"""DeFi lending: positions, health factors and their bands, alerts, refinancing hints, the view."""
