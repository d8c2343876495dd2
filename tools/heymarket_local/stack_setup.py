"""How the local stack fills what a deployment gets from CloudFormation and the operator: the functions' variables,
the webhook tokens, the parameter that takes the Heymarket URL. Split from stack.py, which composes the parts."""

from __future__ import annotations

import secrets

from heymarket_local.template import LocalResources, StackTemplate


def functions_environment(
    template: StackTemplate, function_ids: list[str], resources: LocalResources
) -> dict[str, str]:
    """The functions' template environments merged, each function given all of them, as the local stack always
    did; they must agree."""
    merged: dict[str, str] = {}
    for function_id in function_ids:
        for name, value in template.function_environment(function_id, resources).items():
            if merged.get(name, value) != value:
                raise ValueError(
                    f"the functions need different values of {name}, but the local stack gives them one environment"
                )
            merged[name] = value
    return merged


def generated_webhook_secrets() -> dict[str, str]:
    """A fresh secret for every source, so that each can be tried (`heymarket-bridge send --local`), and the
    token of the delete endpoint.

    Salesforce authenticates with a token in the endpoint URL plus the organization id its messages carry (not
    something a sender can be given): it gets a well-formed made-up one.
    """
    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
    from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
    from heymarket_bridge.ingest.sources.salesforce import ORG_ID_ENTRY

    generated = {name: secrets.token_urlsafe(24) for name in sorted(SOURCE_NAMES)}
    generated[DELETE_CREDENTIAL] = secrets.token_urlsafe(24)
    if "salesforce" in generated:
        generated[ORG_ID_ENTRY] = "00D" + secrets.token_hex(6).upper()[:12]
    return generated


def base_url_parameter(url: str) -> str:
    """The template parameter that takes `url`: HeymarketBaseUrl is https only (the JWT must not travel in clear),
    so an http:// test double on this machine (the sandbox) goes in LocalTestHeymarketUrl."""
    return "LocalTestHeymarketUrl" if url.startswith("http://") else "HeymarketBaseUrl"
