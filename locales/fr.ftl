# French (fr), "vous" form, with a narrow no-break space (U+202F) before : ; ! and ?.
# Same message ids as en.ftl, the reference catalogue; a message missing here falls
# back to English.
#
# Variables: $merchant (MERCHANT_NAME), $label (a field's label), $max, $min, $seconds,
# $input (an input's name, such as first_name or city).

language-name = Français
language-switcher = Langue

## The signup form

form-title = Inscrivez-vous
form-intro = Rejoignez notre liste de clients. Cela prend moins d’une minute.
form-intro-merchant = Rejoignez la liste de clients de { $merchant }. Cela prend moins d’une minute.
page-title-error = Erreur : { $title }
submit = S’inscrire
sending = Envoi en cours…
optional = (facultatif)
error-prefix = Erreur :
error-summary-title = Il y a un problème
privacy-link = Comment nous utilisons vos données
consent-default = Oui, envoyez-moi des nouveautés et des offres par e-mail. Je peux me désinscrire à tout moment.
honeypot-label = Laissez ce champ vide
fields-required-hint = Tous les champs sont obligatoires, sauf ceux indiqués comme facultatifs.

label-first_name = Prénom
label-last_name = Nom
label-email = Adresse e-mail
label-phone = Numéro de téléphone
label-birthday = Date d’anniversaire
label-birthday_day = Jour
label-birthday_month = Mois
label-birthday_year = Année
label-address = Adresse
label-address1 = Adresse (ligne 1)
label-address2 = Complément d’adresse
label-city = Ville ou localité
label-state = État, province ou région
label-zip = Code postal
label-country = Code du pays
label-note = Ce que vous souhaitez nous dire
label-marketing_consent = Consentement aux communications commerciales

hint-email = Nous ne la partagerons jamais.
hint-phone = Vous pouvez utiliser des chiffres, des espaces et des tirets. Si vous êtes à l’étranger, ajoutez l’indicatif de votre pays.
hint-birthday = Par exemple, 27 3 pour le 27 mars. L’année est facultative.
hint-country = Deux lettres, comme FR, BE, CH, CA ou US.
hint-note = { $max } caractères au maximum.

## Validation messages: the server and the script in the page both use these

error-required = { $input ->
    [first_name] Saisissez votre prénom.
    [last_name] Saisissez votre nom.
    [email] Saisissez votre adresse e-mail.
    [phone] Saisissez votre numéro de téléphone.
    [birthday] Saisissez le jour et le mois de votre anniversaire.
    [address1] Saisissez la première ligne de votre adresse.
    [city] Saisissez votre ville ou localité.
    [state] Saisissez votre État, province ou région.
    [zip] Saisissez votre code postal.
    [country] Saisissez le code de votre pays.
    [note] Écrivez une note.
   *[other] Remplissez ce champ.
}
error-too-long = { $label } : saisissez au maximum { $max } caractères.
error-control-characters = { $label } : certains caractères ne peuvent pas être enregistrés.
error-invisible-characters = { $label } : certains caractères sont invisibles, comme une espace sans chasse ou une marque de direction. Saisissez ce champ de nouveau sans eux.
error-email = Saisissez une adresse e-mail comme nom@example.com.
error-phone = Saisissez un numéro de téléphone avec des chiffres, des espaces, des tirets ou des parenthèses, et éventuellement un + au début.
error-phone-digits = Un numéro de téléphone comporte entre { $min } et { $max } chiffres.
error-consent = Cochez la case ou laissez-la décochée.
error-sms-needs-phone = Pour recevoir des SMS, saisissez votre numéro de téléphone, ou laissez la case décochée.
sms-consent-default = Oui, envoyez-moi des offres par SMS. La fréquence des messages varie. Des frais de messagerie et de données peuvent s’appliquer. Répondez STOP pour arrêter, HELP pour de l’aide.
sms-consent-default-merchant = Oui, { $merchant } peut m’envoyer des offres par SMS. La fréquence des messages varie. Des frais de messagerie et de données peuvent s’appliquer. Répondez STOP pour arrêter, HELP pour de l’aide.
label-sms_consent = Consentement aux SMS
error-birthday-numbers = Saisissez votre date d’anniversaire en chiffres, par exemple 27 3 1990.
error-birthday-date = Saisissez une date valide : un jour de 1 à 31 qui existe dans ce mois, et un mois de 1 à 12.
error-birthday-year = Saisissez une année entre { $min } et { $max }, ou laissez l’année vide.
error-country = Saisissez un code pays à deux lettres, par exemple FR.

## Messages above the form

notice-expired = Ce formulaire est resté ouvert longtemps. Vérifiez vos informations, puis envoyez-le à nouveau.
notice-form-used = Ce formulaire a déjà été envoyé, et chaque formulaire inscrit une seule personne. Pour inscrire quelqu’un d’autre, vérifiez les informations ci-dessous et envoyez ce nouveau formulaire.
notice-rate-limited = Nous avons reçu plusieurs inscriptions depuis votre connexion en peu de temps. Veuillez patienter { $seconds } secondes, puis renvoyer le formulaire ; vos informations sont toujours là.
notice-captcha-failed = Veuillez effectuer la vérification au-dessus du bouton, puis renvoyer le formulaire.
notice-captcha-unavailable = Nous n’avons pas pu effectuer la vérification de sécurité pour le moment. Vos informations n’ont pas encore été envoyées : réessayez dans un instant, elles sont toujours là.
notice-not-saved = Votre inscription n’a pas été enregistrée : un problème est survenu de notre côté. Vos informations sont toujours là : renvoyez le formulaire dans un instant.
notice-network = Nous n’avons pas pu joindre le serveur. Vos informations sont toujours là : vérifiez votre connexion et réessayez.

## After the form

thanks-title = Merci !
thanks-title-merchant = Merci de la part de { $merchant } !
thanks-lead = Votre inscription est confirmée. Nous avons bien reçu vos informations.
thanks-back = Retour au formulaire

## Consent: the unsubscribe page.

unsubscribe-title = Votre consentement
unsubscribe-channel-email = nos actualités et offres par e-mail
unsubscribe-channel-sms = nos SMS
unsubscribe-agreed = Le { $date }, vous avez accepté ceci :
unsubscribe-question = Voulez-vous ne plus recevoir { $what } ?
unsubscribe-button = Me désinscrire
unsubscribe-done-title = Vous êtes désinscrit
unsubscribe-done = Vous ne recevrez plus { $what }. Les messages déjà en route peuvent encore arriver dans les prochaines minutes.
unsubscribe-already = Vous vous êtes désinscrit le { $date } : vous ne recevez plus { $what }.
unsubscribe-nothing = Nous ne gardons aucun consentement de votre part pour vous envoyer { $what }. Vous pouvez tout de même nous demander de ne jamais vous écrire.
unsubscribe-invalid-title = Ce lien ne fonctionne pas
unsubscribe-invalid = Le lien a peut-être été coupé ou modifié en chemin. Ouvrez-le à nouveau depuis l’e-mail, ou répondez à l’e-mail pour demander votre désinscription.

## Emails to visitors.

mail-confirm-subject = Confirmez votre adresse e-mail
mail-confirm-subject-merchant = Confirmez votre adresse e-mail pour { $merchant }
mail-confirm-lead = Quelqu’un, vous nous l’espérons, s’est inscrit avec cette adresse e-mail. Merci de confirmer qu’elle est bien la vôtre.
mail-confirm-button = Confirmer mon adresse
mail-confirm-ignore = Si ce n’était pas vous, ignorez cet e-mail : vous n’entendrez plus parler de nous, et l’adresse est oubliée au bout de { $days } jours.
mail-welcome-subject = Bienvenue !
mail-welcome-subject-merchant = Bienvenue chez { $merchant } !
mail-welcome-text = Merci de votre inscription. Nous sommes heureux de vous compter parmi nous.
mail-footer-why = Vous recevez cet e-mail parce que cette adresse a été saisie dans notre formulaire d’inscription.
mail-footer-why-merchant = Vous recevez cet e-mail parce que cette adresse a été saisie dans le formulaire d’inscription de { $merchant }.
mail-footer-unsubscribe = Vous désinscrire, ou voir ce que vous avez accepté

## The confirmation page (double opt-in)

confirm-title = Confirmez votre adresse e-mail
confirm-lead = Appuyez sur le bouton pour confirmer que cette adresse est bien la vôtre.
confirm-button = Confirmer
confirm-whose = Ceci confirme l’inscription envoyée avec cette adresse au nom de { $name }.
confirm-whose-phone = Numéro de téléphone se terminant par { $digits }.
confirm-not-yours = Ce n’est pas vous, ou ce ne sont pas vos coordonnées ? N’appuyez pas sur le bouton : sans lui, rien n’est conservé, et l’inscription est effacée dans quelques jours.
confirm-done-title = Merci : votre adresse est confirmée
confirm-done = Votre inscription est terminée.
confirm-expired-title = Ce lien a expiré
confirm-expired = Les liens de confirmation fonctionnent pendant { $days } jours. Inscrivez-vous à nouveau pour en recevoir un nouveau.
confirm-withdrawn = Vous vous êtes désinscrit après l’envoi de ce lien : rien n’a été modifié.
thanks-check-email = Nous vous avons envoyé un e-mail : ouvrez le lien qu’il contient pour confirmer votre adresse.
thanks-check-email-if-consented = Si vous avez accepté d’avoir de nos nouvelles, nous vous avons envoyé un e-mail : ouvrez le lien qu’il contient pour confirmer votre adresse.

## Error pages

error-unavailable-title = Pas encore fait
error-unavailable-message = Un problème est survenu de notre côté et rien n’a été modifié. Réessayez dans un instant.

error-malformed-title = Le formulaire n’a pas pu être lu
error-malformed-message = Veuillez revenir au formulaire et l’envoyer à nouveau.
error-reference = Référence :
error-back = Retour au formulaire
error-forbidden-title = Ce formulaire ne peut être envoyé que depuis sa propre page
error-forbidden-message = Pour votre sécurité, nous n’acceptons que les inscriptions envoyées depuis le formulaire lui-même. Ouvrez le formulaire et envoyez-le depuis celui-ci.
not-found-title = Page introuvable
not-found-message = Il n’y a aucune page à cette adresse. Elle a peut-être été déplacée, ou le lien contient une erreur.
not-found-link = Aller au formulaire d’inscription
server-error-title = Un problème est survenu
server-error-message = Un problème est survenu de notre côté. Veuillez réessayer dans un instant.

## The counter: the printed poster and the tablet

poster-invitation = Inscrivez-vous à notre liste
poster-scan = Scannez le code avec l’appareil photo de votre téléphone pour vous inscrire.
poster-type = Ou saisissez cette adresse :
poster-consent-heading = Si vous cochez la case du formulaire, vous acceptez ceci :
kiosk-thanks-title = Merci, vous êtes inscrit !
kiosk-thanks-lead = Merci de passer la tablette au client suivant. Un nouveau formulaire s’affiche dans un instant.
kiosk-next = Commencer une nouvelle inscription
kiosk-unpaired-title = Cette tablette a été dissociée
kiosk-unpaired-message = Elle n’accepte plus d’inscriptions. Adressez-vous à un membre du personnel.
kiosk-not-paired-title = Cette tablette n’est pas configurée pour les inscriptions
kiosk-not-paired-message = Adressez-vous à un membre du personnel.
