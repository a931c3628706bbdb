"""crmflow_api."""
