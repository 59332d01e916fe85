"""The two ways to authenticate (§4), as httpx.Auth flows.

httpx runs an Auth flow on every ``send``, so each retry of a request passes through it again:
that is what gives every retry its own fresh SIWX header.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from venice.siwx import SIWX_HEADER, VENICE_DOMAIN, VENICE_URI, sign_in_header


class ApiKeyAuth(httpx.Auth):
    """A Venice API key; the account behind it is charged."""

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("an API key is required")
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(****)"


class WalletAuth(httpx.Auth):
    """A wallet paying from its x402 credit. Holds the private key: it never appears in
    ``repr`` or logs, only the address does."""

    def __init__(
        self, private_key: str | bytes, *, domain: str = VENICE_DOMAIN, uri: str = VENICE_URI
    ) -> None:
        self._account: LocalAccount = Account.from_key(private_key)
        self._domain = domain
        self._uri = uri

    @property
    def address(self) -> str:
        return self._account.address

    @property
    def account(self) -> LocalAccount:
        """The signer, for the x402 payment scheme. Never log or serialise it."""
        return self._account

    def header(self) -> str:
        """A fresh single-use SIGN-IN-WITH-X value."""
        return sign_in_header(self._account, domain=self._domain, uri=self._uri)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[SIWX_HEADER] = self.header()
        yield request

    def __repr__(self) -> str:
        return f"WalletAuth({self.address})"
