"""What every service shares: settings base, worker lifecycle, HTTP endpoints, metrics, logging.

A library for the services, not a deployable; it never imports a service.
"""
