"""Motion: where something moved in a camera's picture, so detection runs only there."""
