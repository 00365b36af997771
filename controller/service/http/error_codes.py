"""Every error code the API answers with: its HTTP status and what it means.

seeds/001 gives each error a `documentationUrl`; ours points at the code's section of the
offline docs page (`/docs#error-<CODE>`), which is rendered from this table, so a code
without a section cannot ship (a test walks the routes' sources for every code they raise).
Codes of stack and operation failures (`STACK_FAILED`, `NEEDS_REPAIR`…) appear inside an
operation's status and events rather than as a response's error; they are listed too.
"""

from __future__ import annotations

from typing import Final

DOCS_PAGE: Final = "/docs"

# code -> (HTTP status, or None when it only appears inside operations; meaning)
ERROR_CODES: Final[dict[str, tuple[int | None, str]]] = {
    # authentication and authorization (seeds/001)
    "AUTH_INVALID_TOKEN": (401, "The token or API key is missing, malformed, revoked or not ours."),
    "AUTH_TOKEN_EXPIRED": (401, "The token has expired; refresh it or sign in again."),
    "AUTH_INVALID_CREDENTIALS": (401, "The username (or e-mail) or password is wrong."),
    "AUTH_MFA_INVALID": (401, "An MFA code was sent, but this account has no MFA to check it."),
    "AUTHZ_FORBIDDEN": (403, "None of the caller's roles (or the key's scopes) grants this."),
    "AUTHZ_RESOURCE_ACCESS_DENIED": (403, "The caller cannot act on this particular resource."),
    "AUTHZ_ORGANIZATION_MISMATCH": (403, "The resource belongs to another organization."),
    # the shape of a request
    "VALIDATION_REQUIRED_FIELD": (400, "A required field (or the body) is missing."),
    "VALIDATION_INVALID_FORMAT": (400, "A field, path or query parameter has the wrong format, "
                                       "or the route does not know it."),
    "VALIDATION_UNKNOWN_FIELD": (400, "A file has a key its format does not define."),
    "VALIDATION_YAML_SYNTAX": (400, "A YAML document does not parse."),
    "VALIDATION_YAML_TOO_COMPLEX": (400, "A YAML document is too deep or too large."),
    "VALIDATION_DUPLICATE_KEY": (422, "A YAML mapping has the same key twice."),
    "VALIDATION_INVALID_ACCOUNT_ID": (400, "An AWS account id is not 12 digits."),
    "VALIDATION_INVALID_DEPLOYMENT_ID": (400, "A deployment id is not D + 6 digits/capitals."),
    # business rules of the catalog (422)
    "VALIDATION_CIRCULAR_DEPENDENCY": (422, "The stacks' dependencies form a cycle."),
    "VALIDATION_UNRESOLVABLE_PLACEHOLDER": (422, "A {{RUNTIME:stack:output}} names an unknown "
                                                 "stack or output, or one a filter leaves out "
                                                 "that was never deployed."),
    "VALIDATION_INVALID_TEMPLATE": (422, "Template validation failed (details list why)."),
    "VALIDATION_UNKNOWN_STACK": (422, "A stack type is not in the catalog."),
    "VALIDATION_UNKNOWN_TEMPLATE": (422, "A template is not in the catalog."),
    "VALIDATION_MISSING_DEPENDENCY": (422, "A stack needs another stack that is not enabled."),
    "VALIDATION_UNKNOWN_CONFIG_KEY": (422, "A config key is not in the stack's definition."),
    "VALIDATION_OUT_OF_RANGE": (422, "A config value is outside its min/max or type."),
    "VALIDATION_DIRECTORY_MISMATCH": (422, "A manifest's folder does not match its ids."),
    "VALIDATION_DUPLICATE_DEPLOYMENT_ID": (422, "Two manifests use the same deployment id."),
    "VALIDATION_INVALID_ENVIRONMENT": (422, "An environment is unknown or misconfigured."),
    "VALIDATION_TOO_MANY_LAYERS": (422, "The dependency graph is deeper than allowed."),
    "VALIDATION_UNKNOWN_FILE": (422, "A file in the catalog folders is not a known kind."),
    "VALIDATION_PROGRAM_SYNTAX": (422, "A stack's Pulumi program does not parse."),
    "VALIDATION_UNDECLARED_SETTING": (422, "A program reads a deployment setting its stack "
                                           "definition does not declare in `reads`."),
    "VALIDATION_INVALID_PINS": (422, "The toolchain pins (stacks/requirements*) cannot be read."),
    # resources
    "RESOURCE_NOT_FOUND": (404, "No such deployment, stack, template, operation or route."),
    "RESOURCE_ALREADY_EXISTS": (409, "A deployment id or name is taken."),
    "RESOURCE_CONFLICT": (409, "The resource is in a state that does not allow this."),
    "RESOURCE_LOCKED": (423, "Another operation holds the lock of this stack or environment."),
    "DEPLOYMENT_HAS_ACTIVE_STACKS": (400, "Stacks are still deployed: destroy them first, or "
                                          "force=true."),
    "METHOD_NOT_ALLOWED": (405, "The route does not answer this HTTP method."),
    "PAYLOAD_TOO_LARGE": (413, "The request body is over the limit."),
    "PREFLIGHT_FAILED": (424, "A pre-flight check (resources, quotas, dependencies) failed."),
    # operations
    "OPERATION_IN_PROGRESS": (409, "Another operation runs on this deployment environment."),
    "OPERATION_FAILED": (None, "The operation failed: its stacks' errors say why."),
    "OPERATION_INTERRUPTED": (None, "The service stopped while the operation ran; retry it."),
    "STACK_FAILED": (None, "The engine failed to deploy or destroy the stack."),
    "NEEDS_REPAIR": (None, "An interrupted update left pending operations in the stack's "
                           "state; repair it before deploying."),
    "INTERRUPTED": (None, "The stack was running when its operation was interrupted."),
    "ROLLED_BACK": (None, "The stack failed and was rolled back to its previous state."),
    "QUOTA_EXCEEDED": (429, "The tier's concurrent-operation quota is used up."),
    "RATE_LIMIT_EXCEEDED": (429, "Too many requests in the window; see Retry-After."),
    # upstream
    "REPOSITORY_ERROR": (502, "The repository (git, GitHub) could not be read or updated."),
    "PULUMI_STATE_ERROR": (502, "The engine's backend could not be read or written."),
    "AWS_CREDENTIALS_INVALID": (502, "The cloud credentials were refused."),
    "SERVICE_UNAVAILABLE": (503, "A dependency (store, repo, engine) is unavailable."),
    "INTERNAL_ERROR": (500, "An unexpected error; report the requestId."),
}  # fmt: skip


def documentation_url(code: str) -> str:
    """Where the docs page explains `code` (its section exists for every known code)."""
    return f"{DOCS_PAGE}#error-{code}" if code in ERROR_CODES else f"{DOCS_PAGE}#errors"
