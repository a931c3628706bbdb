"""crmflow_runner."""
