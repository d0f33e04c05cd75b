"""Pure rules of the appraisal service: the workflow engine, recognition conditions, the audit
chain. No I/O."""
