"""The GitHub Action's entry point (`cloud action <command>`): inputs from environment
variables, outputs to `$GITHUB_OUTPUT`, Markdown to the job summary and the PR comment."""
