"""Subjects are registered with BACKWARD compatibility set explicitly: an allowed evolution
registers, an incompatible one is refused with the registry's message."""

from __future__ import annotations

import copy
import json
import secrets

import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

import schemas
from schemas.registry import register, registry_client

pytestmark = pytest.mark.e2e


def test_backward_compatible_evolution_registers_and_a_breaking_one_is_refused(stack):
    subject = f"evolution-{secrets.token_hex(4)}-value"
    base = schemas.raw("cloudflare.audit_logs")
    added_optional = copy.deepcopy(base)
    added_optional["fields"].insert(-1, {"name": "account", "type": ["null", "string"],
                                         "default": None})
    added_required = copy.deepcopy(added_optional)
    added_required["fields"].insert(-1, {"name": "tenant", "type": "string"})
    with registry_client(stack.registry_url) as client:
        first = register(client, subject, json.dumps(base))
        assert client.get_compatibility(subject) == "BACKWARD"
        second = register(client, subject, json.dumps(added_optional))
        assert second != first, "an allowed evolution is a new version"
        with pytest.raises(SchemaRegistryError) as refused:
            register(client, subject, json.dumps(added_required))
        assert refused.value.http_status_code == 409
        versions = client.get_versions(subject)
        assert len(versions) == 2, "the incompatible schema was not registered"
