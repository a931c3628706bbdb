"""Kafka client security for Faust and aiokafka, from the same settings as librdkafka's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import CredentialsT

from crmflow.settings import Settings


def faust_credentials(settings: Settings) -> CredentialsT | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = (
        create_ssl_context(cafile=settings.kafka_ssl_ca_location) if protocol.endswith("SSL") else None
    )
    if protocol == "SSL":
        return SSLCredentials(ssl_context)
    return SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=ssl_context,
        mechanism=settings.kafka_sasl_mechanism,
    )


def aiokafka_auth(settings: Settings) -> Mapping[str, Any]:
    """Keyword arguments of aiokafka clients (the rules loader), as Faust derives its own."""
    return credentials_to_aiokafka_auth(faust_credentials(settings))
