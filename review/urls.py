from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.claim_next, name="claim-next"),
    path("agreement/", views.agreement, name="agreement"),
    path("<int:pk>/", views.item_detail, name="item"),
    path("<int:pk>/claim/", views.claim, name="claim"),
    path("<int:pk>/release/", views.release, name="release"),
    path("<int:pk>/decide/", views.decide, name="decide"),
    path("<int:pk>/escalate/", views.escalate, name="escalate"),
    path("<int:pk>/reopen/", views.reopen, name="reopen"),
]
