"""Strait policies: pure rules (rules.py), resource views (views.py), the offline harness and the CrossGuard pack."""
