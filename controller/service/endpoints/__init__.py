"""The endpoints, one module per resource group, with what they take and answer."""
