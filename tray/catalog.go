package tray

import (
	"strconv"
	"strings"
	"time"
)

// Key names one user-visible string. Placeholders are written {name} and
// filled by text; every language must use the same placeholders.
type Key string

// Every string the tray shows. Words are for box-office staff: no "DNS",
// "resolver" or "server" — they see "backup addresses" and "internet fault".
const (
	// Status sentences, one per situation the icon can show.
	KeyNotRunning       Key = "status.not_running"
	KeyNotActivated     Key = "status.not_activated"
	KeyNormal           Key = "status.normal"
	KeyNormalNoBackup   Key = "status.normal_passthrough"
	KeyRecentBackup     Key = "status.recent_backup"
	KeyDegraded         Key = "status.degraded"
	KeyOutageCovered    Key = "status.outage_covered"
	KeyOutageUncovered  Key = "status.outage_uncovered"
	KeyOutageVerified   Key = "status.outage_verified"   // covered, and the backup addresses passed the TLS check
	KeyOutageUnverified Key = "status.outage_unverified" // covered, but a backup name has no address that passed it
	KeyOutageNoBackup   Key = "status.outage_passthrough"
	KeyRecovering       Key = "status.recovering"
	KeyPinnedByHand     Key = "status.pinned"
	KeyStatusWithName   Key = "status.with_platform"
	KeyTooltip          Key = "tooltip"
	KeyUseBackup        Key = "menu.use_backup"
	KeyReturnAuto       Key = "menu.return_auto"
	KeyCheck            Key = "menu.check"
	KeySaveReport       Key = "menu.save_report"
	KeyAbout            Key = "menu.about"
	KeyQuit             Key = "menu.quit"
	KeySwitching        Key = "notice.switching"
	KeySwitchFailed     Key = "notice.switch_failed"
	KeyChecking         Key = "notice.checking"
	KeyCheckOK          Key = "notice.check_ok"
	KeyCheckProblem     Key = "notice.check_problem"
	KeyCheckProblems    Key = "notice.check_problems"
	KeyCheckFailed      Key = "notice.check_failed"
	KeySaving           Key = "notice.saving"
	KeySavedDesktop     Key = "notice.saved_desktop"
	KeySavedDocuments   Key = "notice.saved_documents"
	KeySavedElsewhere   Key = "notice.saved_elsewhere"
	KeySaveFailed       Key = "notice.save_failed"
	KeyAboutVersion     Key = "about.version"
	KeyAboutService     Key = "about.service_version"
	KeyAboutBundle      Key = "about.bundle"
	KeyAboutBundleNoEnd Key = "about.bundle_no_expiry"
	KeyAboutBundleOld   Key = "about.bundle_expired"
	KeyAboutNoBundle    Key = "about.no_bundle"
	KeyDate             Key = "date"
	KeyFirstDay         Key = "date.first_day"
	KeyMonths           Key = "date.months" // twelve names separated by "|"
)

// AllKeys lists every key, for the completeness test and tools.
func AllKeys() []Key {
	return []Key{
		KeyNotRunning, KeyNotActivated, KeyNormal, KeyNormalNoBackup, KeyRecentBackup,
		KeyDegraded, KeyOutageCovered, KeyOutageUncovered, KeyOutageNoBackup, KeyRecovering,
		KeyOutageVerified, KeyOutageUnverified,
		KeyPinnedByHand, KeyStatusWithName, KeyTooltip,
		KeyUseBackup, KeyReturnAuto, KeyCheck, KeySaveReport, KeyAbout, KeyQuit,
		KeySwitching, KeySwitchFailed, KeyChecking, KeyCheckOK, KeyCheckProblem, KeyCheckProblems,
		KeyCheckFailed, KeySaving, KeySavedDesktop, KeySavedDocuments, KeySavedElsewhere, KeySaveFailed,
		KeyAboutVersion, KeyAboutService, KeyAboutBundle, KeyAboutBundleNoEnd, KeyAboutBundleOld,
		KeyAboutNoBundle, KeyDate, KeyFirstDay, KeyMonths,
	}
}

// catalogs returns the strings of every language. It is a function, not a
// package variable, so nothing can change the catalogs at run time.
func catalogs() map[Lang]map[Key]string {
	return map[Lang]map[Key]string{
		English: {
			KeyNotRunning:       "dnspin is not running. If the internet fails, there is no backup.",
			KeyNotActivated:     "dnspin is switched off on this computer. Ask support to switch it on.",
			KeyNormal:           "Everything is working normally.",
			KeyNormalNoBackup:   "Working normally. Backup addresses are switched off.",
			KeyRecentBackup:     "The internet had a short fault. Backup addresses were used just now.",
			KeyDegraded:         "The internet connection is unstable. Backup addresses are ready.",
			KeyOutageCovered:    "Internet fault. Backup addresses keep you connected.",
			KeyOutageVerified:   "Internet fault. Checked backup addresses keep you connected.",
			KeyOutageUnverified: "Internet fault. Backup addresses are in use but could not be checked. If pages do not open, please call support.",
			KeyOutageUncovered:  "Internet fault. Some pages may not open. Please call support.",
			KeyOutageNoBackup:   "Internet fault, and backup addresses are switched off. Please call support.",
			KeyRecovering:       "The internet fault is clearing. Back to normal soon.",
			KeyPinnedByHand:     "Backup addresses are in use (switched on by hand).",
			KeyStatusWithName:   "{platform}: {status}",
			KeyTooltip:          "dnspin – {status}",
			KeyUseBackup:        "Use backup addresses now",
			KeyReturnAuto:       "Return to automatic",
			KeyCheck:            "Check connection",
			KeySaveReport:       "Save support report…",
			KeyAbout:            "About dnspin",
			KeyQuit:             "Quit",
			KeySwitching:        "Switching…",
			KeySwitchFailed:     "Could not switch. Please try again or call support.",
			KeyChecking:         "Checking the connection…",
			KeyCheckOK:          "Check finished: everything works.",
			KeyCheckProblem:     "Check found 1 problem. Please save a support report and send it to support.",
			KeyCheckProblems:    "Check found {n} problems. Please save a support report and send it to support.",
			KeyCheckFailed:      "The check could not run. Please try again.",
			KeySaving:           "Saving the report…",
			KeySavedDesktop:     "Report saved on your desktop: {file}",
			KeySavedDocuments:   "Report saved in your Documents folder: {file}",
			KeySavedElsewhere:   "Report saved: {file}",
			KeySaveFailed:       "The report could not be saved. Please call support.",
			KeyAboutVersion:     "dnspin version {version}",
			KeyAboutService:     "Background service version {version}",
			KeyAboutBundle:      "Backup address list no. {serial}, valid until {date}",
			KeyAboutBundleNoEnd: "Backup address list no. {serial}",
			KeyAboutBundleOld:   "Backup address list no. {serial}, expired on {date}",
			KeyAboutNoBundle:    "Backup addresses from the installed settings",
			KeyDate:             "{day} {month} {year}",
			KeyFirstDay:         "1",
			KeyMonths:           "January|February|March|April|May|June|July|August|September|October|November|December",
		},
		German: {
			KeyNotRunning:       "dnspin läuft nicht. Bei einer Internetstörung gibt es keine Ersatzadressen.",
			KeyNotActivated:     "dnspin ist auf diesem Computer ausgeschaltet. Bitten Sie den Support, es einzuschalten.",
			KeyNormal:           "Alles funktioniert normal.",
			KeyNormalNoBackup:   "Alles funktioniert normal. Die Ersatzadressen sind ausgeschaltet.",
			KeyRecentBackup:     "Das Internet war kurz gestört. Eben wurden Ersatzadressen verwendet.",
			KeyDegraded:         "Die Internetverbindung ist instabil. Die Ersatzadressen stehen bereit.",
			KeyOutageCovered:    "Internetstörung. Die Ersatzadressen halten die Verbindung aufrecht.",
			KeyOutageVerified:   "Internetstörung. Geprüfte Ersatzadressen halten die Verbindung aufrecht.",
			KeyOutageUnverified: "Internetstörung. Die Ersatzadressen sind in Gebrauch, konnten aber nicht geprüft werden. Wenn sich Seiten nicht öffnen, rufen Sie bitte den Support an.",
			KeyOutageUncovered:  "Internetstörung. Manche Seiten öffnen sich eventuell nicht. Bitte rufen Sie den Support an.",
			KeyOutageNoBackup:   "Internetstörung, und die Ersatzadressen sind ausgeschaltet. Bitte rufen Sie den Support an.",
			KeyRecovering:       "Die Internetstörung ist fast behoben. Bald läuft alles wieder normal.",
			KeyPinnedByHand:     "Die Ersatzadressen sind von Hand eingeschaltet.",
			KeyStatusWithName:   "{platform}: {status}",
			KeyTooltip:          "dnspin – {status}",
			KeyUseBackup:        "Jetzt Ersatzadressen verwenden",
			KeyReturnAuto:       "Zurück zum Automatikbetrieb",
			KeyCheck:            "Verbindung prüfen",
			KeySaveReport:       "Bericht für den Support speichern…",
			KeyAbout:            "Über dnspin",
			KeyQuit:             "Beenden",
			KeySwitching:        "Wird umgeschaltet…",
			KeySwitchFailed:     "Das Umschalten ist fehlgeschlagen. Bitte versuchen Sie es noch einmal oder rufen Sie den Support an.",
			KeyChecking:         "Verbindung wird geprüft…",
			KeyCheckOK:          "Prüfung beendet: alles in Ordnung.",
			KeyCheckProblem:     "Die Prüfung hat 1 Problem gefunden. Bitte speichern Sie einen Bericht und schicken Sie ihn an den Support.",
			KeyCheckProblems:    "Die Prüfung hat {n} Probleme gefunden. Bitte speichern Sie einen Bericht und schicken Sie ihn an den Support.",
			KeyCheckFailed:      "Die Prüfung konnte nicht durchgeführt werden. Bitte versuchen Sie es noch einmal.",
			KeySaving:           "Bericht wird gespeichert…",
			KeySavedDesktop:     "Bericht auf dem Desktop gespeichert: {file}",
			KeySavedDocuments:   "Bericht im Ordner „Dokumente“ gespeichert: {file}",
			KeySavedElsewhere:   "Bericht gespeichert: {file}",
			KeySaveFailed:       "Der Bericht konnte nicht gespeichert werden. Bitte rufen Sie den Support an.",
			KeyAboutVersion:     "dnspin, Version {version}",
			KeyAboutService:     "Hintergrunddienst, Version {version}",
			KeyAboutBundle:      "Ersatzadressliste Nr. {serial}, gültig bis {date}",
			KeyAboutBundleNoEnd: "Ersatzadressliste Nr. {serial}",
			KeyAboutBundleOld:   "Ersatzadressliste Nr. {serial}, abgelaufen am {date}",
			KeyAboutNoBundle:    "Ersatzadressen aus den installierten Einstellungen",
			KeyDate:             "{day}. {month} {year}",
			KeyFirstDay:         "1",
			KeyMonths:           "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember",
		},
		French: {
			KeyNotRunning:       "dnspin n’est pas en marche. En cas de panne d’Internet, il n’y a pas de solution de secours.",
			KeyNotActivated:     "dnspin est désactivé sur cet ordinateur. Demandez au support de l’activer.",
			KeyNormal:           "Tout fonctionne normalement.",
			KeyNormalNoBackup:   "Tout fonctionne normalement. Les adresses de secours sont désactivées.",
			KeyRecentBackup:     "Brève panne d’Internet\u00a0: les adresses de secours viennent de prendre le relais.",
			KeyDegraded:         "La connexion Internet est instable. Les adresses de secours sont prêtes.",
			KeyOutageCovered:    "Panne d’Internet. Les adresses de secours vous maintiennent en ligne.",
			KeyOutageVerified:   "Panne d’Internet. Des adresses de secours vérifiées vous maintiennent en ligne.",
			KeyOutageUnverified: "Panne d’Internet. Les adresses de secours sont utilisées, mais n’ont pas pu être vérifiées. Si des pages ne s’ouvrent pas, appelez le support.",
			KeyOutageUncovered:  "Panne d’Internet. Certaines pages risquent de ne pas s’ouvrir. Appelez le support.",
			KeyOutageNoBackup:   "Panne d’Internet, et les adresses de secours sont désactivées. Appelez le support.",
			KeyRecovering:       "La panne se résorbe. Retour à la normale sous peu.",
			KeyPinnedByHand:     "Les adresses de secours sont utilisées (activées manuellement).",
			KeyStatusWithName:   "{platform}\u00a0: {status}",
			KeyTooltip:          "dnspin – {status}",
			KeyUseBackup:        "Utiliser les adresses de secours maintenant",
			KeyReturnAuto:       "Revenir au mode automatique",
			KeyCheck:            "Vérifier la connexion",
			KeySaveReport:       "Enregistrer un rapport pour le support…",
			KeyAbout:            "À propos de dnspin",
			KeyQuit:             "Quitter",
			KeySwitching:        "Changement en cours…",
			KeySwitchFailed:     "Le changement a échoué. Réessayez ou appelez le support.",
			KeyChecking:         "Vérification de la connexion…",
			KeyCheckOK:          "Vérification terminée\u00a0: tout fonctionne.",
			KeyCheckProblem:     "La vérification a trouvé 1 problème. Enregistrez un rapport et envoyez-le au support.",
			KeyCheckProblems:    "La vérification a trouvé {n} problèmes. Enregistrez un rapport et envoyez-le au support.",
			KeyCheckFailed:      "La vérification n’a pas pu être faite. Réessayez.",
			KeySaving:           "Enregistrement du rapport…",
			KeySavedDesktop:     "Rapport enregistré sur le Bureau\u00a0: {file}",
			KeySavedDocuments:   "Rapport enregistré dans le dossier Documents\u00a0: {file}",
			KeySavedElsewhere:   "Rapport enregistré\u00a0: {file}",
			KeySaveFailed:       "Le rapport n’a pas pu être enregistré. Appelez le support.",
			KeyAboutVersion:     "dnspin version {version}",
			KeyAboutService:     "Service d’arrière-plan, version {version}",
			KeyAboutBundle:      "Liste d’adresses de secours n°\u00a0{serial}, valable jusqu’au {date}",
			KeyAboutBundleNoEnd: "Liste d’adresses de secours n°\u00a0{serial}",
			KeyAboutBundleOld:   "Liste d’adresses de secours n°\u00a0{serial}, expirée le {date}",
			KeyAboutNoBundle:    "Adresses de secours issues des réglages installés",
			KeyDate:             "{day} {month} {year}",
			KeyFirstDay:         "1er",
			KeyMonths:           "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre",
		},
	}
}

// Texts is one language's catalog with the English one behind it, so a
// missing string shows in English rather than as a key.
type Texts struct {
	lang    Lang
	own, en map[Key]string
}

// TextsFor returns the catalog for lang (English for an unknown language).
func TextsFor(lang Lang) Texts {
	all := catalogs()
	own, ok := all[lang]
	if !ok {
		lang, own = English, all[English]
	}
	return Texts{lang: lang, own: own, en: all[English]}
}

// Lang is the language these texts are in.
func (t Texts) Lang() Lang { return t.lang }

// Text returns the string for k with {name} placeholders replaced by the
// pairs in args ("name", value, ...).
func (t Texts) Text(k Key, args ...string) string {
	s, ok := t.own[k]
	if !ok || s == "" {
		s = t.en[k]
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// Date writes d as a long date the way the language does ("3 December
// 2026", "3. Dezember 2026", "1er décembre 2026").
func (t Texts) Date(d time.Time) string {
	months := strings.Split(t.Text(KeyMonths), "|")
	month := d.Month().String()
	if len(months) == 12 {
		month = months[d.Month()-1]
	}
	day := strconv.Itoa(d.Day())
	if d.Day() == 1 {
		day = t.Text(KeyFirstDay)
	}
	return t.Text(KeyDate, "day", day, "month", month, "year", strconv.Itoa(d.Year()))
}
