"""Schemathesis hooks for the other-tenant run of compute-node/fuzz/run.sh: every `{id}` in a
generated request is replaced by the id of tenant A's object of that kind (environment
OTHER_DATASET, OTHER_MODEL, OTHER_APIKEY, OTHER_SECURE_MODEL), and the requests are sent with tenant B's token. The
check `other_tenant_sees_nothing` requires that no answer reveals or touches A's object: never
2xx, never 409 (which would tell its state), and no 5xx; 404, 401 and request-validation
refusals (400, 413, 415) are the only answers."""

import os

import schemathesis

IDS = {
    "datasets": os.environ["OTHER_DATASET"],
    "models": os.environ["OTHER_MODEL"],
    "apikeys": os.environ["OTHER_APIKEY"],
    # /v1/secure/models/{id}...: split("/")[2] is "secure".
    "secure": os.environ["OTHER_SECURE_MODEL"],
}
ALLOWED = {400, 401, 404, 413, 415}


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    kind = ctx.operation.path.split("/")[2]
    if path_parameters is not None and "id" in path_parameters and kind in IDS:
        path_parameters["id"] = IDS[kind]
    return path_parameters


@schemathesis.check
def other_tenant_sees_nothing(ctx, response, case):
    if response.status_code not in ALLOWED:
        raise AssertionError(
            f"{case.method} {case.formatted_path} with another tenant's token answered "
            f"{response.status_code}: {response.text[:200]}"
        )
