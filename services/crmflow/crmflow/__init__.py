"""crmflow."""
