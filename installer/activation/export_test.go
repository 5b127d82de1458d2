package activation

// Unexported parts the external tests look at. They are external (package
// activation_test) because they use the activationtest fakes, which import
// this package.
var (
	FallbackServers = fallbackServers
	NRPTRuleID      = nrptRuleID
)

const (
	NRPTGPKey   = nrptGPKey
	NRPTName    = nrptName
	NRPTServers = nrptServers
	NRPTComment = nrptComment
)
