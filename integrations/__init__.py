"""One package per external provider (DESIGN.md): inbound signed views, outbound client,
models, tasks and templates in one place. It sits at the edge: it may use every app, and no
app imports it (apps reach a provider through the registry in settings and the hooks)."""
