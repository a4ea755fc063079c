// Tests for RetrievalPipeline are added with the module's code.
