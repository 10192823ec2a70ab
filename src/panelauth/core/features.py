"""cPanel features: what a feature list grants (w§16.5)."""

from __future__ import annotations

# The features panelauth's functions name, with their Feature Manager labels.
FEATURES: dict[str, str] = {
    "apitokens": "Manage API Tokens",
    "popaccts": "Email Accounts",
    "twofactorauth": "Two-Factor Authentication",
    "webmail": "Webmail",
}


def feature_enabled(feature_list: dict[str, bool] | None, feature: str) -> bool:
    """A feature is on unless the account's list turns it off; a missing list grants nothing."""
    if feature_list is None:
        return False
    return feature_list.get(feature, True)
