from django.contrib import admin

from concerns.models import LeaderRoute, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


@admin.register(LeaderRoute)
class LeaderRouteAdmin(admin.ModelAdmin):
    list_display = ("tag", "department", "leader")
    list_select_related = ("tag", "department", "leader")
