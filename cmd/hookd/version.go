package main

// Set at build time by the Makefile (-ldflags -X); see buildVersion.
var (
	gitTag     string
	gitCommit  string
	buildEpoch string
)

// buildVersion is the version /healthz shows, as 1Kosmos defines it: <git-tag>.<commit>.<build
// epoch> for a build of a tag, <commit>.<build epoch> otherwise. A build without the Makefile's
// flags says "dev.0".
func buildVersion() string {
	commit, epoch := gitCommit, buildEpoch
	if commit == "" {
		commit = "dev"
	}
	if epoch == "" {
		epoch = "0"
	}
	if gitTag != "" {
		return gitTag + "." + commit + "." + epoch
	}
	return commit + "." + epoch
}
