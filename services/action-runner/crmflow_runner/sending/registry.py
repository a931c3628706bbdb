"""Channel -> Sender, built from settings. A channel whose settings are absent has no sender:
its deliveries fail (permanently) with "no sender configured", never silently.

Another channel plugs in by adding its factory to ``FACTORIES``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from crmflow.settings import Settings
from crmflow_runner.sending import sms, smtp, webhook
from crmflow_runner.sending.outcome import Sender

SenderFactory = Callable[[Settings], Sender | None]

FACTORIES: dict[str, SenderFactory] = {
    "email": smtp.from_settings,
    "sms": sms.from_settings,
    "webhook": webhook.from_settings,
}


def build_senders(
    settings: Settings, factories: Mapping[str, SenderFactory] | None = None
) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    for channel, factory in (FACTORIES if factories is None else factories).items():
        sender = factory(settings)
        if sender is not None:
            senders[channel] = sender
    return senders
