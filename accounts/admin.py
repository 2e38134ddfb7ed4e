from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Department, Organisation, User


@admin.register(User)
class PersonAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "department")
    list_filter = ("role", "department", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Answerable", {"fields": ("role", "department")}),)
    add_fieldsets = UserAdmin.add_fieldsets + (
        ("Answerable", {"fields": ("email", "role", "department")}),
    )


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


class OrganisationForm(forms.ModelForm):
    access_phrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current phrase. It is stored only as a hash.",
    )

    class Meta:
        model = Organisation
        fields = (
            "name",
            "public_form_enabled",
            "response_vote_threshold",
            "response_days",
            "agenda_vote_threshold",
        )

    def clean(self):
        cleaned = super().clean()
        enabling = cleaned.get("public_form_enabled")
        has_phrase = bool(cleaned.get("access_phrase")) or bool(self.instance.access_phrase_hash)
        if enabling and not has_phrase:
            raise forms.ValidationError(
                "Set an access phrase before opening the anonymous form without sign-in."
            )
        return cleaned

    def save(self, commit=True):
        organisation = super().save(commit=False)
        if self.cleaned_data.get("access_phrase"):
            organisation.set_access_phrase(self.cleaned_data["access_phrase"])
        if commit:
            organisation.save()
        return organisation


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    form = OrganisationForm

    def has_add_permission(self, request):
        return not Organisation.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
