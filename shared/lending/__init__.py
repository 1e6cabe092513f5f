"""DeFi lending (issue 7): positions, health factors and their bands, alerts, refinancing hints, the view."""
