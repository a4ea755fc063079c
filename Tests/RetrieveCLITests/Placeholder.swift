// Tests for RetrieveCLI are added with the module's code.
