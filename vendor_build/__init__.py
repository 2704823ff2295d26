"""Build, verify, measure and publish the scikit-learn Lambda layer."""
