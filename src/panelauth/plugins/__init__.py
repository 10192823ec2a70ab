"""The reference plugins that ship with panelauth, built on the extension API alone
(panelauth.extension): DNS zones (`dns_zones`), SSL certificates (`ssl`) and the domain,
feature and SSH facts clients ask for (`domains`). Each is an entry point of the group
`panelauth.functions` in pyproject.toml and is served only when `plugins:` names it; a fresh
panelauth.yaml names all three. An import contract keeps them to the extension API, so that
what they do, a third-party plugin can do too.
"""
