# English: the reference catalogue. Every other language has the same message ids;
# a message missing there falls back to this file.
#
# Variables: $merchant (MERCHANT_NAME), $label (a field's label), $max, $min, $seconds,
# $input (an input's name, such as first_name or city).

language-name = English
language-switcher = Language

## The signup form

form-title = Sign up
form-intro = Join our customer list. It takes less than a minute.
form-intro-merchant = Join the { $merchant } customer list. It takes less than a minute.
page-title-error = Error: { $title }
submit = Sign up
sending = Sending…
optional = (optional)
error-prefix = Error:
error-summary-title = There is a problem
privacy-link = How we use your details
consent-default = Yes, send me news and offers by email. I can unsubscribe at any time.
honeypot-label = Leave this field empty
fields-required-hint = All fields are required unless marked optional.

label-first_name = First name
label-last_name = Last name
label-email = Email address
label-phone = Phone number
label-birthday = Birthday
label-birthday_day = Day
label-birthday_month = Month
label-birthday_year = Year
label-address = Address
label-address1 = Address line 1
label-address2 = Address line 2
label-city = Town or city
label-state = State, province or region
label-zip = ZIP or postal code
label-country = Country code
label-note = Anything you would like us to know
label-marketing_consent = Marketing consent

hint-email = We will never share it.
hint-phone = Digits, spaces and dashes are fine. Add your country code if you are abroad.
hint-birthday = For example, 27 3 for 27 March. The year is optional.
hint-country = Two letters, such as US, CA, GB, FR, ES or MX.
hint-note = At most { $max } characters.

## Validation messages: the server and the script in the page both use these

error-required = { $input ->
    [first_name] Enter your first name.
    [last_name] Enter your last name.
    [email] Enter your email address.
    [phone] Enter your phone number.
    [birthday] Enter the day and month of your birthday.
    [address1] Enter the first line of your address.
    [city] Enter your town or city.
    [state] Enter your state, province or region.
    [zip] Enter your ZIP or postal code.
    [country] Enter your country code.
    [note] Write a note.
   *[other] Fill in this field.
}
error-too-long = { $label } must be at most { $max } characters.
error-control-characters = { $label } contains characters that cannot be saved.
error-invisible-characters = { $label } contains invisible characters, such as a zero-width space or a direction mark. Type it again without them.
error-email = Enter an email address like name@example.com.
error-phone = Enter a phone number using digits, spaces, dashes or brackets, with an optional + at the start.
error-phone-digits = A phone number has { $min } to { $max } digits.
error-consent = Tick the box, or leave it empty.
error-sms-needs-phone = To get text messages, enter your phone number, or leave the box empty.
sms-consent-default = Yes, send me offers by text message. Message frequency varies. Message and data rates may apply. Reply STOP to stop, HELP for help.
sms-consent-default-merchant = Yes, { $merchant } may send me offers by text message. Message frequency varies. Message and data rates may apply. Reply STOP to stop, HELP for help.
label-sms_consent = Text message consent
error-birthday-numbers = Enter your birthday as numbers, such as 27 3 1990.
error-birthday-date = Enter a real date: a day from 1 to 31 that exists in the month, and a month from 1 to 12.
error-birthday-year = Enter a year from { $min } to { $max }, or leave the year empty.
error-country = Enter a two-letter country code, such as US.

## Messages above the form

notice-expired = This form was open for a long time, so please check your details and send it again.
notice-form-used = This form has already been sent, and one form signs up one person. To sign up someone else, check the details below and send this new form.
notice-rate-limited = We received several signups from your connection in a short time. Please wait { $seconds } seconds and send the form again; your details are still here.
notice-captcha-failed = Please complete the check above the button, then send the form again.
notice-captcha-unavailable = We could not complete the security check just now. Your details were not sent yet: please try again in a moment; they are still here.
notice-not-saved = Your signup was not saved: something went wrong on our side. Your details are still here: please send the form again in a moment.
notice-network = We could not reach the server. Your details are still here: please check your connection and try again.

## After the form

thanks-title = Thank you!
thanks-title-merchant = Thank you from { $merchant }!
thanks-lead = You're on the list. We've received your details.
thanks-back = Back to the form

## Consent: the unsubscribe page. $date is a day (YYYY-MM-DD), $what one of the
## unsubscribe-channel-* messages.

unsubscribe-title = Your consent
unsubscribe-channel-email = news and offers by email
unsubscribe-channel-sms = text messages
unsubscribe-agreed = On { $date } you agreed to this:
unsubscribe-question = Do you want to stop receiving { $what }?
unsubscribe-button = Unsubscribe
unsubscribe-done-title = You are unsubscribed
unsubscribe-done = You will receive no more { $what } from us. Messages already on their way may still arrive in the next few minutes.
unsubscribe-already = You unsubscribed on { $date }: you receive no { $what } from us.
unsubscribe-nothing = We keep no consent of yours to send you { $what }. You can still ask us never to email you.
unsubscribe-invalid-title = This link does not work
unsubscribe-invalid = The link may have been cut off or changed on its way. Open it again from the email, or reply to the email and ask to be unsubscribed.

## Emails to visitors. $merchant is MERCHANT_NAME, $days CONFIRMATION_DAYS.

mail-confirm-subject = Please confirm your email address
mail-confirm-subject-merchant = Please confirm your email address for { $merchant }
mail-confirm-lead = Someone, we hope you, signed up with this email address. Please confirm that it is yours.
mail-confirm-button = Confirm my email address
mail-confirm-ignore = If it was not you, ignore this email: you will hear nothing more from us, and the address is forgotten after { $days } days.
mail-welcome-subject = Welcome!
mail-welcome-subject-merchant = Welcome to { $merchant }!
mail-welcome-text = Thank you for signing up. We are glad to have you with us.
mail-footer-why = You receive this email because this address was entered on our signup form.
mail-footer-why-merchant = You receive this email because this address was entered on the signup form of { $merchant }.
mail-footer-unsubscribe = Unsubscribe, or see what you agreed to

## The confirmation page (double opt-in)

confirm-title = Confirm your email address
confirm-lead = Press the button to confirm that this email address is yours.
confirm-button = Confirm
confirm-whose = This confirms the signup sent with this address for { $name }.
confirm-whose-phone = Phone number ending in { $digits }.
confirm-not-yours = Not you, or not your details? Do not press the button: nothing is kept without it, and the signup is erased in a few days.
confirm-done-title = Thank you: your address is confirmed
confirm-done = Your signup is complete.
confirm-expired-title = This link has expired
confirm-expired = Confirmation links work for { $days } days. Sign up again to get a new one.
confirm-withdrawn = You unsubscribed after this link was sent, so nothing was changed.
thanks-check-email = We have sent you an email: please open the link in it to confirm your address.
thanks-check-email-if-consented = If you agreed to hear from us, we have sent you an email: open the link in it to confirm your address.

## Error pages

error-unavailable-title = Not done yet
error-unavailable-message = Something went wrong on our side and nothing was changed. Please try again in a moment.

error-malformed-title = The form could not be read
error-malformed-message = Please go back to the form and send it again.
error-reference = Reference:
error-back = Back to the form
error-forbidden-title = This form can only be sent from its own page
error-forbidden-message = For your safety, signups are only accepted from the signup form itself. Please open the form and send it from there.
not-found-title = Page not found
not-found-message = There is no page at this address. It may have moved, or the link may be mistyped.
not-found-link = Go to the signup form
server-error-title = Something went wrong
server-error-message = Something went wrong on our side. Please try again in a moment.

## The counter: the printed poster and the tablet

poster-invitation = Join our list
poster-scan = Scan the code with your phone's camera to sign up.
poster-type = Or type this address:
poster-consent-heading = If you tick the box on the form, you agree to this:
kiosk-thanks-title = Thank you, you're signed up!
kiosk-thanks-lead = Please hand the tablet to the next customer. A new form appears in a moment.
kiosk-next = Start a new signup
kiosk-unpaired-title = This tablet was unpaired
kiosk-unpaired-message = It no longer takes signups. Please ask a member of staff.
kiosk-not-paired-title = This tablet is not set up for signups
kiosk-not-paired-message = Please ask a member of staff.
