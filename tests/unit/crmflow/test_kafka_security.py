"""One set of settings configures every Kafka client: librdkafka, aiokafka and Faust."""

from crmflow.kafka import client_config, consumer_config, producer_config
from crmflow.settings import Settings
from crmflow_evaluator.kafka_auth import aiokafka_auth, faust_credentials


def test_plaintext_by_default():
    settings = Settings()
    assert client_config(settings)["security.protocol"] == "PLAINTEXT"
    assert "sasl.username" not in producer_config(settings)
    assert faust_credentials(settings) is None
    assert aiokafka_auth(settings) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_reaches_every_client():
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="crmflow",
        kafka_sasl_password="secret",
    )
    for config in (producer_config(settings), consumer_config(settings, "g")):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert (config["sasl.username"], config["sasl.password"]) == ("crmflow", "secret")
    auth = aiokafka_auth(settings)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("crmflow", "secret")
    assert auth["ssl_context"] is not None


def test_ssl_only_uses_the_configured_ca():
    settings = Settings(
        kafka_security_protocol="SSL", kafka_ssl_ca_location="/etc/ssl/certs/ca-certificates.crt"
    )
    assert client_config(settings)["ssl.ca.location"] == "/etc/ssl/certs/ca-certificates.crt"
    assert aiokafka_auth(settings)["security_protocol"] == "SSL"
