"""API key issuing and revocation, shared by the CLI and the /v1/keys endpoints."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from headwater.core import apikeys
from headwater.core.models import ApiKey, Organisation
from headwater.ids import new_id, now_micros
from headwater.store.base import WriteTx


def issue(tx: WriteTx, org_id: str, label: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """Create a key; returns it with its token, which is never stored nor shown again."""
    token = apikeys.token_from_random(secrets.token_bytes(20))
    key = ApiKey(
        id=new_id(),
        org_id=org_id,
        label=label,
        prefix=apikeys.display_prefix(token),
        scopes=apikeys.parse_scopes(scopes),
        created_at=now_micros(),
        last_used_at=None,
        revoked_at=None,
    )
    tx.insert_api_key(key, apikeys.token_hash(token))
    return key, token


def issue_for_organisation(
    tx: WriteTx, org_name: str, label: str, scopes: Iterable[str]
) -> tuple[Organisation, ApiKey, str]:
    """Bootstrap: create the organisation if needed, then a key for it."""
    organisation = tx.ensure_organisation(org_name, new_id(), now_micros())
    key, token = issue(tx, organisation.id, label, scopes)
    return organisation, key, token
