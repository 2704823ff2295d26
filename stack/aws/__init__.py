"""The AWS deploy: ``python -m stack deploy`` and ``destroy`` (``make deploy|destroy``).

- :mod:`~stack.aws.deploy`: where a deploy starts; its module docstring lists the steps.
- :mod:`~stack.aws.destroy`: where a teardown starts.
- :mod:`~stack.aws.cfn` and ``template.json``: the stage's CloudFormation stack (its
  dashboard and alarms too) and its change sets.
- :mod:`~stack.aws.model_guard`: no function switched to a scikit-learn without a model.
- :mod:`~stack.aws.monitoring`: what the stack's dashboard and alarms need from a stage.
- :mod:`~stack.aws.context`: reaching AWS (region, credentials, clients), the options
  deploy and destroy share, and their one error, :class:`~stack.aws.context.DeployError`.
- :mod:`~stack.aws.chalice_project`: the Chalice project as deploy sees it: the stage
  settings it writes, what Chalice recorded, the ``chalice`` CLI.
- :mod:`~stack.aws.buckets`: the S3 side CloudFormation does not do.
"""
