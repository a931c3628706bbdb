"""crmflow's Kafka Connect supervisor: restarts a FAILED connector or task with backoff."""
