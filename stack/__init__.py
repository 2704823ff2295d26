"""``python -m stack demo|deploy|destroy``: the product run locally, or deployed to AWS.

Two subpackages, one per concern, that share only what both end with:

- :mod:`stack.aws`: the AWS deploy. ``deploy`` starts in :mod:`stack.aws.deploy`,
  ``destroy`` in :mod:`stack.aws.destroy`; it imports nothing of the local stack.
- :mod:`stack.local`: the local stack. ``demo`` starts in :mod:`stack.local.demo`; the
  services it starts (:mod:`stack.local.services`) are the ones the tests and the
  benchmarks start.
- shared: the repository's folders (here), :mod:`stack.processes` (child processes that
  stop as a group, a command's output relayed line by line), :mod:`stack.handoff` (the
  page's ``config.js`` and the curl line a person gets once an API runs) and
  :mod:`stack.capture` (the capture rate options both take, and the variables they set).
"""

from pathlib import Path

__all__ = ["API_DIR", "REPO_ROOT", "STATIC_DIR"]

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The Chalice project: what ``chalice local`` serves and ``chalice deploy`` deploys.
API_DIR = REPO_ROOT / "spam_api"
#: The page, as committed (its ``config.js`` names the local API).
STATIC_DIR = REPO_ROOT / "static"
