"""One module per console page family; each handler asks the store bounded questions and
renders one template."""
