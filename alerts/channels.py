"""Sending one message through one channel: email through Django's email backend, webhooks
(Slack, Discord, generic JSON) through apprise. Each send answers (delivered, recipients, error)
and never raises: the caller records the outcome and decides whether to retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import apprise
from django.core.mail import get_connection, send_mail

if TYPE_CHECKING:  # the model reads its URL through this module: no import back at runtime
    from .models import Channel

EMAIL, JSON = "email", "json"
# A webhook that does not answer within these many seconds is a failed attempt, retried later.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
# What apprise's plugin for each kind is called (its service_name).
SERVICES = {"slack": "Slack", "discord": "Discord", JSON: "JSON"}


class BadTarget(Exception):
    pass


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    recipients: str
    error: str = ""


def apprise_url(channel: Channel) -> str:
    """The apprise URL for a webhook channel. A JSON channel may be given a plain http(s) URL,
    which apprise reads as its json(s):// scheme; Slack and Discord webhook URLs apprise knows
    as they are."""
    url = channel.target.strip()
    if channel.kind == JSON:
        for plain, scheme in (("https://", "jsons://"), ("http://", "json://")):
            if url.startswith(plain):
                url = scheme + url[len(plain) :]
    return url


def webhook(channel: Channel):
    """The apprise plugin that sends to this channel, or BadTarget saying why there is none."""
    url = apprise_url(channel)
    if not url:
        raise BadTarget("Give the webhook's URL.")
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise BadTarget(f"Not a {channel.get_kind_display()} URL that apprise can read.")
    if plugin.service_name != SERVICES[channel.kind]:
        raise BadTarget(
            f"That is a {plugin.service_name} URL, not a {channel.get_kind_display()} one."
        )
    plugin.socket_connect_timeout = CONNECT_TIMEOUT_S
    plugin.socket_read_timeout = READ_TIMEOUT_S
    return plugin


def send(channel: Channel, title: str, body: str) -> Outcome:
    if channel.kind == EMAIL:
        return _email(channel, title, body)
    return _webhook(channel, title, body)


def _email(channel: Channel, title: str, body: str) -> Outcome:
    return email(channel.addresses(), title, body)


def email(addresses: list[str], title: str, body: str) -> Outcome:
    told = ", ".join(addresses)[:500]
    if not addresses:
        return Outcome(False, "", "No address: the channel has none and no ADMINS are set.")
    try:
        connection = get_connection(timeout=READ_TIMEOUT_S)
        send_mail(f"[Studio] {title}", body, None, addresses, connection=connection)
    except Exception as exc:  # noqa: BLE001 - whatever the mail server says is the error
        return Outcome(False, told, f"{type(exc).__name__}: {exc}"[:2000])
    return Outcome(True, told)


def _webhook(channel: Channel, title: str, body: str) -> Outcome:
    try:
        plugin = webhook(channel)
    except BadTarget as exc:
        return Outcome(False, "", str(exc))
    told = plugin.url(privacy=True).split("?")[0][:500]  # no secret tokens in the record
    notifier = apprise.Apprise()
    notifier.add(plugin)
    with apprise.LogCapture(level=logging.WARNING) as said:
        try:
            delivered = notifier.notify(title=title, body=body)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is a failed delivery
            return Outcome(False, told, f"{type(exc).__name__}: {exc}")
        logged = said.getvalue()
    if delivered:
        return Outcome(True, told)
    lines = [line.split(" - ", 2)[-1] for line in logged.strip().splitlines()]
    return Outcome(False, told, "\n".join(lines)[-2000:] or "The webhook did not accept it.")
