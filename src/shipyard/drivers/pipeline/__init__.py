"""Side effects of pipelines: a stage's scratch folder, its commands, its reports, git metadata."""
