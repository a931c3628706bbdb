"""crmflow_evaluator."""
