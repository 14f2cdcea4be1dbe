"""Small widgets and helpers every page shares (file dialogs that look right on every desktop)."""
