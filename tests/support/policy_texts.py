"""Short policy paragraphs, English and Dutch, that the groundedness tests check claims against."""

LEAVE_EN = (
    "Annual leave. Full-time employees receive 25 vacation days per calendar year. "
    "Unused days can be carried over until 1 July of the following year. "
    "Requests must be approved by your manager at least 14 days in advance."
)
EXPENSES_EN = (
    "Expense claims. Employees can claim travel costs for business trips. "
    "Receipts must be submitted within 30 days through the Declaro portal. "
    "The maximum hotel allowance is € 1.500 per trip."
)
LEAVE_NL = (
    "Verlof. Medewerkers met een voltijdcontract krijgen 25 vakantiedagen per kalenderjaar. "
    "Niet opgenomen dagen mogen worden meegenomen tot 1 juli van het volgende jaar. "
    "Thuiswerken is toegestaan op maandag en vrijdag."
)
